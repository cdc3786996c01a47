-- attack: (baseline) read a file that is meant to be read
-- expect: value "hello from the data dir\n"
return data.read("input.txt")
