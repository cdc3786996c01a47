# attack: open a host path with os.open
# expect: error FileNotFoundError /No such file/
import os
os.open('/etc/shadow', os.O_RDONLY)
