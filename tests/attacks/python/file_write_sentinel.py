# attack: overwrite a world-writable host file
# expect: error FileNotFoundError /No such file/
open('@SENTINEL@', 'w').write('pwned')
