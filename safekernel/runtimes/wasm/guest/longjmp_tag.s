# The exception tag setjmp/longjmp lower to under -mllvm -wasm-enable-sjlj (Lua's error path).
.globl __c_longjmp
.tagtype __c_longjmp i32
__c_longjmp:
