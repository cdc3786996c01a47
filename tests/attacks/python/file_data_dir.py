# attack: read the data dir by its host path
# expect: error FileNotFoundError /No such file/
open('@DATA_DIR@/input.txt').read()
