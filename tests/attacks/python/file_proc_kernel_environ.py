# attack: read the kernel's environment through /proc
# expect: error FileNotFoundError /No such file/
open('/proc/@KERNEL_PID@/environ', 'rb').read()
