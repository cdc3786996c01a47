# attack: invalid UTF-8 on stdout
# expect: ok
import os
os.write(1, b'\xff\xfe\xc3(\n')
1
