# attack: a result whose repr is enormous
# expect: ok
'z' * 5_000_000
