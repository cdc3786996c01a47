# attack: fill the host's memory with empty /tmp files and directories (each must count against the cap)
# expect: error OSError /No space/
import os
for i in range(40000):
    os.mkdir(f'/tmp/d{i}') if i % 2 else open(f'/tmp/f{i}', 'w').close()
