# attack: spawn a shell on a pseudo-terminal
# expect: error ModuleNotFoundError /termios/
import pty
pty.spawn('/bin/sh')
