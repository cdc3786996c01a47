# attack: open a database file on the host
# expect: error OperationalError /.*/
import sqlite3
sqlite3.connect('@SENTINEL@').execute('create table t(x)')
