"""A pymodbus server holding the register image the Modbus interop test
expects (drivers/modbus/interop_test.go lays it out the same way).

The words are made here with Python's struct, independently of the Go
codec: for every type, in the orders ABCD (big endian), CDAB (big-endian
words in reverse), BADC (little-endian words in reverse) and DCBA (little
endian), one value after the other from holding register 0; then the text
"pymodbus!" (ABCD, NUL padded), a register 0x8001 and 16 zero registers for
writes. Input registers mirror the holding registers; coils and discrete
inputs 0-7 are 1 0 1 1 0 0 0 1.

usage: modbus_server.py tcp PORT | rtu DEVICE
"""
import math
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer

VALUES = [
    ("H", 4660), ("h", -1234), ("I", 305419896), ("i", -123456789),
    ("f", 3.14), ("Q", 0x0102030405060700), ("q", -2), ("d", math.pi),
]


def words(b):
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]


def image():
    regs = []
    for fmt, v in VALUES:
        big, little = words(struct.pack(">" + fmt, v)), words(struct.pack("<" + fmt, v))
        regs += big + big[::-1] + little[::-1] + little
    regs += words(b"pymodbus!\0")
    regs += [0x8001] + [0] * 16
    return regs


def main():
    regs = image()
    bits = [1, 0, 1, 1, 0, 0, 0, 1]
    def unit():
        return ModbusSlaveContext(
            hr=ModbusSequentialDataBlock(0, list(regs)), ir=ModbusSequentialDataBlock(0, list(regs)),
            co=ModbusSequentialDataBlock(0, list(bits)), di=ModbusSequentialDataBlock(0, list(bits)),
            zero_mode=True)
    # Units 1 and 2 answer; any other unit is silent, as a slave that is off.
    context = ModbusServerContext(slaves={1: unit(), 2: unit()}, single=False)
    if sys.argv[1] == "tcp":
        StartTcpServer(context=context, address=("127.0.0.1", int(sys.argv[2])))
    else:
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=sys.argv[2],
                          baudrate=19200, bytesize=8, parity="N", stopbits=1)


if __name__ == "__main__":
    main()
