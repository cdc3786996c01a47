# attack: forge 4 MB result frames in a loop (the host must keep only the last, not fill its memory)
# expect: value 300
# magic: timeout 20
import os, struct
body = ('{"t":"result","data":{"text/plain":"' + 'x' * (4 << 20) + '"},"metadata":{}}').encode()
frame = b'\x00SKC' + struct.pack('>I', len(body)) + body
for n in range(300):
    os.write(2, frame)
n + 1
