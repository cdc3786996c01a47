# attack: resolve a host name (a DNS lookup leaks data even without a connection)
# expect: error PermissionError /no network/
import socket
socket.gethostbyname('example.com')
