# attack: grow a /tmp file after removing it while open (its bytes must still count against the cap)
# expect: error OSError /No space/
import os
f = open('/tmp/gone', 'wb', buffering=0)
os.unlink('/tmp/gone')
chunk = b'x' * (1 << 20)
for _ in range(200):
    f.write(chunk)
