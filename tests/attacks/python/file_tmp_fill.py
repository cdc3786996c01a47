# attack: fill the in-memory /tmp past its cap
# expect: error OSError /No space|space/
with open('/tmp/big', 'wb') as f:
    for _ in range(1000):
        f.write(b'x' * 1024 * 1024)
