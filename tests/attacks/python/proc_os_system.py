# attack: run a shell command
# expect: error AttributeError /system/
import os
os.system('id')
