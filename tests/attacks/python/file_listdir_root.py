# attack: list the root directory
# expect: ok
import os
sorted(os.listdir('/'))
