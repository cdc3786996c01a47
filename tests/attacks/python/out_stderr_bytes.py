# attack: raw bytes on the control fd
# expect: ok
import os
os.write(2, b'\x00SKC\xff\xff\xff\xffgarbage')
os.write(2, b'\x00SKC')
os.write(2, b'plain text\n')
1
