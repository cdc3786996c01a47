# attack: forge a display frame with script-bearing HTML and Markdown past the driver (the kernel, not the worker, must sanitise)
# expect: ok
import os, json, struct
for data in ({'text/html': '<script>alert(1)</script><img src=x onerror=alert(1)>'}, {'text/markdown': '<img src=x onerror=alert(1)>'}, {'text/html': '<a href="javascript:alert(1)">x</a>', 'text/latex': '\\href{javascript:alert(1)}{x}'}):
    body = json.dumps({'t': 'display', 'data': data, 'metadata': {}, 'id': None, 'update': False}).encode()
    os.write(2, b'\x00SKC' + struct.pack('>I', len(body)) + body)
1
