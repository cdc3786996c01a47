# attack: start a process through subprocess
# expect: error OSError /not support processes|Not supported/
import subprocess
subprocess.run(['id'])
