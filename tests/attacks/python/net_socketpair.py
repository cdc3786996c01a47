# attack: make a socket pair
# expect: error OSError /.*/
import socket
socket.socketpair()
