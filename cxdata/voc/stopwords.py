"""Stop words of the analysed languages: function words, auxiliaries, pronouns and the
fillers of survey comments ("very", "really", "ok"), in surface and dictionary form.

Written for this project (the automatic themes drop them before TF-IDF, so topic labels
are content words). A word is dropped when either its surface form or its lemma is here.
"""

from __future__ import annotations

_EN = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each even ever every few for from further get got had
hadn't has hasn't have haven't having he her here hers herself him himself his how i i'm
i've if in into is isn't it it's its itself just let's me more most much must my myself
no nor not now of off on once one only or other our ours ourselves out over own same she
should shouldn't so some such than that that's the their theirs them themselves then there
these they this those through to too two three four under until up us very was wasn't we
were weren't what when where which while who whom why will with won't would wouldn't you
your yours yourself yourselves really quite rather ok okay yes still again already also
anyone anything everything nothing nobody somebody someone something thing things time
times way make made go went come came gone take took say said use used get getting
let lot lots bit though although however maybe perhaps please thank thanks dear hi hello
would like just overall generally mostly everything whole
"""

_NO = """
alle allerede alt altfor andre annen annet at av bare begge ble blei bli blir blitt både
da de deg dei deira deim dem den denne der dere deres det dette di din dine disse ditt du
eg ein eit eitt eller elles en ene eneste enhver enn er et ett etter for fordi fra før få
fikk går gikk gjøre gjorde gjort ha hadde han hans har hele helt hennar henne hennes her
hjå ho hun hva hvem hver hvilke hvilken hvis hvor hvordan hvorfor i ikke ikkje ingen ingi
inkje inn inni ja jeg kan kanskje kom komme kommer kunne kva kvar kven kvifor litt man
mange me med medan meg meget mellom men mer mest mi min mine mitt mot mye mykje må måtte
ned nei no noe noen noka noko nokon nokor nokre nå når og også om opp oss over på samme
seg selv si sia sidan siden sin sine sitt sjøl skal skulle slik so som somme somt så sånn
til tok ta um upp ut uten var vart varte ved vere verte vi vil ville vore vors vort vår
være vært veldig ganske stort sett ganger gang gangen dette ok greit takk hei bra
"""

_DA = """
ad af al alle alt altid andet andre at bare begge blev blive bliver da de dem den denne
der deres det dette dig din dine disse dit dog du efter eller en end er et for fordi fra
fik få gik gøre gjorde gjort ham han hans har havde have hele helt hende her hos hun hvad
hvem hver hvilke hvilken hvis hvor hvordan hvorfor i ikke ind ingen intet ja jeg jer jo
kan kom komme kommer kun kunne lidt man mange med meget mellem men mere mest mig min mine
mit mod må måske måtte ned nej noget nogen nogle nu når og også om op os over på samme
selv sig sin sine sit skal skulle som sådan så til ud uden var vi vil ville vor være
været virkelig ret gang gange gangen okay ok tak hej godt
"""

_SV = """
alla allt alltid andra annan annat att av bara båda blev bli blir blivit de dem den denna
deras dess dessa det detta dig din dina ditt du där då efter eller en ett fick för från
få gick gjorde gjort göra ha hade han hans har hela helt henne hennes hit hon honom hur
här i icke ingen inget inom inte ja jag kan kanske kom komma kommer kunde man med mellan
men mer mest mig min mina mitt mot mycket må måste ner nej nu när någon något några och
också om oss på sa samma sedan sig sin sina sitt själv ska skulle som så sådan till tog
ta under upp ut utan var vara varit vad vem vi vid vilka vilken vill väldigt verkligen
ganska gång gånger gången okej ok tack hej bra
"""

_SL = """
a ali bi bil bila bile bili bilo biti bo bodo bom bomo boste bova da do dokaj dva dve
ena eno en ga ja jaz je jih jim jo ju k h kaj kako kar kateri katera katero ker kdo kje
ko kot le lahko me med mene mi mnogo moj moja moje mojega mojo moram mu na nad nam nas
naš naša naše ne nekaj ni nič nihče niso nisem nismo o od on ona oni ono pa po pod pred
preden pri s z sam samo se sem si smo so sta ste še ta tako tam te tega tem temu ti tisti
to tudi tukaj v vam vas vaš ve vendar vse vsi vsak več za zakaj zame že zelo bolj res
sploh kdaj nikoli nazaj hvala v redu ok super prav čisto malo preveč moral morala mogel
imeti imam ima imel imela dobiti dobil dobila iti šel šla
"""

STOP_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(text.split())
    for lang, text in (("en", _EN), ("no", _NO), ("da", _DA), ("sv", _SV), ("sl", _SL))
}
"""Language code → stop words (lower case)."""


def stop_words(language: str | None) -> frozenset[str]:
    """The stop words of `language` (empty for a language without a list)."""
    return STOP_WORDS.get(language or "", frozenset())
