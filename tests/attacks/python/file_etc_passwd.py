# attack: read /etc/passwd
# expect: error FileNotFoundError /No such file/
open('/etc/passwd').read()
