# attack: read the host's requests off fd 0
# expect: value b''
# state: kept
import os
os.read(0, 4)
