# attack: forge a PNG that is not base64
# expect: ok
import os, json, struct
body = json.dumps({'t': 'display', 'data': {'image/png': '!!!'}, 'metadata': {}, 'id': None, 'update': False}).encode()
os.write(2, b'\x00SKC' + struct.pack('>I', len(body)) + body)
1
