# attack: the in-memory /tmp is usable and stays inside the guest
# expect: value 'hi'
with open('/tmp/note.txt', 'w') as f:
    f.write('hi')
open('/tmp/note.txt').read()
