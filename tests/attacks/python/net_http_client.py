# attack: speak HTTP to the listener
# expect: error AttributeError /getaddrinfo/
import http.client
c = http.client.HTTPConnection('127.0.0.1', @PORT@, timeout=1)
c.request('GET', '/')
