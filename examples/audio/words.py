"""The 257 common English words the synthetic speech corpora draw their sentences from."""

WORDS = """
about above across after again air all almost along also always animal another answer
around away back because before began being below between big black blue book both
bright brown build call came carry change children city close cold colour come could
country cover cross dark day deep different door down draw during early earth east eat
enough even every eye face fall family far farm fast father field find fire first fish
five follow food foot forest found four friend from full game garden girl give glass
good great green ground group grow hand happy hard head hear heavy help here high hold
home horse hour house idea important island just keep kind king know land large last
late learn leave left letter light line listen little live long look machine made make
many mark measure money moon morning mother mountain move much music name near never
new next night north nothing number ocean often old once open order other over page
paper part people picture place plant play point power question quick quiet rain read
real red river road rock room round run same school science sea second seven shape ship
short side simple sing size sleep slow small snow sound south space stand star start
still stone story street strong study summer sun table talk teacher ten thing think
three through time today together tree true turn under until usually valley very voice
walk warm watch water weather west while white whole wind window winter without wood
word work world write year yellow young
""".split()
