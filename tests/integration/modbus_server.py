#!/usr/bin/python3
"""A Modbus sensor for the integration tests: pymodbus (Debian python3-pymodbus
3.0) on 127.0.0.1, or on a serial line for RTU, driven through stdin.

    modbus_server.py --port PORT [--units 1,2] [--size 300]
    modbus_server.py --serial /dev/pts/N [--units 1]
    modbus_server.py --port PORT --silent

Without --units it answers every unit id (single context).  Every table of
every unit holds SIZE values at protocol addresses 0..SIZE-1 (zero_mode):
reading past them gets exception 2, illegal data address.  --silent accepts
connections and never answers.

Commands, one per line on stdin (keep the pipe open):
    set UNIT FC ADDR V [V ...]   fc 1 coils, 2 discrete, 3 holding, 4 input;
                                 register values 0..65535, bits 0/1
    get UNIT FC ADDR N           prints "ok V ..."
It prints "ready" once it serves, then "ok" after each command.
"""
import argparse
import asyncio
import logging
import socket
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import StartAsyncSerialServer, StartAsyncTcpServer


def slave(size):
    return ModbusSlaveContext(di=ModbusSequentialDataBlock(0, [0] * size),
                              co=ModbusSequentialDataBlock(0, [0] * size),
                              hr=ModbusSequentialDataBlock(0, [0] * size),
                              ir=ModbusSequentialDataBlock(0, [0] * size),
                              zero_mode=True)


async def commands(context, single):
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        w = line.split()
        if not w:
            continue
        try:
            unit = 0 if single else int(w[1])
            ctx = context[unit]
            if w[0] == "set":
                ctx.setValues(int(w[2]), int(w[3]), [int(v, 0) for v in w[4:]])
                print("ok", flush=True)
            elif w[0] == "get":
                vals = ctx.getValues(int(w[2]), int(w[3]), int(w[4]))
                print("ok " + " ".join(str(int(v)) for v in vals), flush=True)
            else:
                print("error unknown command", flush=True)
        except Exception as e:  # pylint: disable=broad-except
            print("error %s" % e, flush=True)


async def silent(port):
    async def hold(reader, writer):
        while await reader.read(65536):  # never answer; wait for the client to go
            pass
        writer.close()
    server = await asyncio.start_server(hold, "127.0.0.1", port, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--serial")
    ap.add_argument("--units")
    ap.add_argument("--size", type=int, default=300)
    ap.add_argument("--silent", action="store_true")
    a = ap.parse_args()
    # pymodbus logs an error on every normal client disconnect: noise.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if a.silent:
        await silent(a.port)
        return
    if a.units:
        context = ModbusServerContext(
            slaves={int(u): slave(a.size) for u in a.units.split(",")}, single=False)
    else:
        context = ModbusServerContext(slaves=slave(a.size), single=True)
    if a.serial:
        server = await StartAsyncSerialServer(context=context, framer=ModbusRtuFramer,
                                              port=a.serial, baudrate=9600,
                                              defer_start=True)
        await server.start()
    else:
        server = await StartAsyncTcpServer(context=context,
                                           address=("127.0.0.1", a.port),
                                           defer_start=True, allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.05)
    if not a.serial:
        # Ready means connectable.
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
                break
            except OSError:
                await asyncio.sleep(0.02)
    print("ready", flush=True)
    await commands(context, not a.units)
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
