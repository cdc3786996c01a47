# attack: read the kernel's connection file (its key)
# expect: error FileNotFoundError /No such file/
open('@CONNECTION_FILE@').read()
