# attack: forge a display with a script MIME type
# expect: ok
import os, json, struct
body = json.dumps({'t': 'display', 'data': {'application/javascript': 'alert(1)'}, 'metadata': {}, 'id': None, 'update': False}).encode()
os.write(2, b'\x00SKC' + struct.pack('>I', len(body)) + body)
1
