# attack: forge a result frame for a later cell
# expect: ok
# next: 6 * 7 => 42
import os, json, struct
body = json.dumps({'t': 'result', 'data': {'text/plain': 'forged'}, 'metadata': {}}).encode()
os.write(2, b'\x00SKC' + struct.pack('>I', len(body)) + body)
None
