# attack: read the worker's environment through /proc
# expect: error FileNotFoundError /No such file/
open('/proc/self/environ', 'rb').read()
