# attack: a control frame nested too deeply to parse
# expect: ok
import os, struct
body = b'[' * 100000 + b']' * 100000
os.write(2, b'\x00SKC' + struct.pack('>I', len(body)) + body)
1
