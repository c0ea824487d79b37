"""symbolic: MIDI-first music sequence modelling on JAX.

Data flows one way: MIDI -> tokens -> arrays -> model -> tokens -> MIDI -> audio.
"""

__version__ = "0.1.0"
