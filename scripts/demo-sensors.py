#!/usr/bin/python3
"""
The demo's environment sensors over Modbus TCP: a simulated RS-485 gateway
(pymodbus, Debian python3-pymodbus) on 127.0.0.1 with two serial devices
behind it, the ones etc/demo/sonae.conf reads through the shipped profiles:

  unit 1  env1, an XY-MD02 temperature/humidity transmitter
          (etc/profiles/modbus/xy-md02.conf): input register 1 temperature
          (int16, tenths of degC), 2 humidity (tenths of %RH)
  unit 3  leak1, an Aqualeak 10K leak-cable controller
          (etc/profiles/modbus/aqualeak-10k.conf): input registers 30001
          status bits (0 leak, 1 cable break, 2 contamination, 3 summary
          alarm), 30002 leak distance (m), 30005 cable length (m); protocol
          addresses 0, 1 and 4

Other unit ids get no answer, as from a gateway whose serial device is
silent.  Input registers cannot be written over Modbus, so the simulator has
a back door: each unit's holding and input registers are one table, and a
write to holding register N (function 06 or 16, protocol address N) sets
input register N.  scripts/demo-story.py tells the story that way; the real
devices' holding registers (the XY-MD02's address and baud rate at 0x0101)
are not simulated.  It starts with the values of the story's first second.

usage: demo-sensors.py 127.0.0.1:PORT
  Prints "ready" once it serves; stopped with SIGTERM.
"""
import asyncio
import logging
import signal
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import StartAsyncTcpServer

ENV_UNIT, LEAK_UNIT = 1, 3
SIZE = 16    # registers (and bits) per table and unit: protocol addresses 0..15

# Protocol address -> raw register value at the start (story second 0).
START = {
    ENV_UNIT: {1: 235, 2: 450},                 # 23.5 degC, 45.0 %RH
    LEAK_UNIT: {0: 0, 1: 0, 4: 40},             # no leak, no break; a 40 m cable
}


def unit(values):
    registers = [0] * SIZE
    for addr, v in values.items():
        registers[addr] = v
    shared = ModbusSequentialDataBlock(0, registers)
    return ModbusSlaveContext(di=ModbusSequentialDataBlock(0, [0] * SIZE),
                              co=ModbusSequentialDataBlock(0, [0] * SIZE),
                              hr=shared, ir=shared, zero_mode=True)


async def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("127.0.0.1:"):
        sys.stderr.write(__doc__.split("usage: ")[1].split("\n")[0] + "\n")
        return 2
    port = int(sys.argv[1].split(":", 1)[1])
    # pymodbus logs an error on every normal client disconnect: noise.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    context = ModbusServerContext(slaves={u: unit(v) for u, v in START.items()},
                                  single=False)
    server = await StartAsyncTcpServer(context=context, address=("127.0.0.1", port),
                                       defer_start=True, allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    # Ready once it listens; a port in use ends it here, with the reason.
    await asyncio.wait([task, server.serving], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        try:
            task.result()
        except OSError as e:
            sys.stderr.write("demo-sensors.py: %s\n" % e)
        return 1
    print("ready", flush=True)
    await stopped.wait()
    task.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
