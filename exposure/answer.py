"""One answer per dataset searched, the first thing a person reads: in it or not, and how sure.

Built from the verdicts a check already gave (exposure.verdicts owns their rules): a named person
matched by their mean face (after a copy of the photo itself), then matching faces, then faces worth a look; with no match, how
often a check of this size would have found the person had one photo of them been there.
"""

from __future__ import annotations

import math

from exposure.i18n import _, ngettext
from exposure.plain import count
from exposure.verdicts import POSSIBLE, SAME_PHOTO


def dataset_answer(result, index) -> str:
    """The answer for one index of a check (exposure.checker.CheckResult), in plain words."""
    key = str(index.path)
    faces = result.results[result.results["index"] == key]
    people = result.identities
    people = people[people["index"] == key] if people is not None and len(people) else None
    name = index.name
    copies = faces[faces["verdict"] == SAME_PHOTO]
    if len(copies):
        who = copies["identity"].iloc[0]
        if who is None or who != who:
            return _("You are in {dataset}: it holds a copy of your photo.").format(dataset=name)
        return _("You are in {dataset}: it holds a copy of your photo, under the name '{identity}'.").format(
            dataset=name, identity=who)
    if people is not None and people["is_match"].any():
        top = people[people["is_match"]].iloc[0]
        return ngettext("You are very likely in {dataset}: your face matches the person named '{identity}' there "
                        "({n} photo).",
                        "You are very likely in {dataset}: your face matches the person named '{identity}' there "
                        "({n} photos).", int(top["photos"])).format(dataset=name, identity=top["identity"],
                                                                      n=count(int(top["photos"])))
    matches = int(faces["is_match"].sum())
    if matches:
        return ngettext("You are very likely in {dataset}: {n} of its photos is very likely you.",
                        "You are very likely in {dataset}: {n} of its photos are very likely you.",
                        matches).format(dataset=name, n=count(matches))
    if result.strangers[key].too_small:
        return _("{dataset} is too small to tell whether you are in it.").format(dataset=name)
    worth_a_look = int((faces["verdict"] == POSSIBLE).sum())
    found = 1.0 - result.power(key).missed
    tenths = math.floor(found * 10 + 0.5)
    reach = (_("a check of this size would find you about {k} times in 10 if one photo of you were there")
             .format(k=tenths) if tenths >= 1 else
             _("a check of this size would find you less than 1 time in 10 if one photo of you were there"))
    if worth_a_look:
        return ngettext("Perhaps you are in {dataset}: {n} face is close enough to look at, but not close enough to "
                        "say; {reach}.",
                        "Perhaps you are in {dataset}: {n} faces are close enough to look at, but not close enough "
                        "to say; {reach}.", worth_a_look).format(dataset=name, n=count(worth_a_look), reach=reach)
    return _("No sign of you in {dataset}; {reach}.").format(dataset=name, reach=reach)
