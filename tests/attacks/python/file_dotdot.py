# attack: climb out of the root with ..
# expect: error FileNotFoundError /No such file/
open('/../../../../etc/hostname').read()
