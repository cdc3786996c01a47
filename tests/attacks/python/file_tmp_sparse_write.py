# attack: seek far past the end of a /tmp file and write one byte (the hole must count)
# expect: error OSError /No space/
f = open('/tmp/sparse', 'wb', buffering=0)
f.seek(2 ** 40)
f.write(b'x')
