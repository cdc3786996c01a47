# attack: input() when the frontend sends none
# expect: error EOFError /does not accept input/
input('? ')
