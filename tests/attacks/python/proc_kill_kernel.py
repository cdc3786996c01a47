# attack: signal the kernel process
# expect: error AttributeError /kill/
import os
os.kill(@KERNEL_PID@, 9)
