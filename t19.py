import sys,time,os; sys.path.insert(0,'/tmp/rt2/tools'); from mcp import *
m=MCP('/tmp/rt2/me/ws',['--policy','/tmp/rt2/me/policy3.toml','--state-dir','/tmp/rt2/me/state19'])
runp(m, r'''mv d1 d1x; mv d1/d2 d1/d2x; cat d1/d2/sec3/s; ln /tmp/rt2/me/outside/f hl; ln /tmp/rt2/me/extra/e hl2 2>&1; python3 -c "
import socket; s=socket.socket(socket.AF_UNIX)
try: s.connect(b'\0rt2abstract'); print('connected abstract')
except Exception as e: print('abstract',e)"''')
m.close()
