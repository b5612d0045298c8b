"""Code that runs INSIDE a sandbox (with the image's Python): the file and process agent.

It imports nothing from the rest of the service; the image build copies this folder to
/opt/interpreter/agent.
"""
