"""The demo: a local web app that builds and runs the example tasks on the targets, and
the audio front end the audio examples share. Around the compiler: no stage imports it."""
