"""Every figure's name and definition, in French, in one place: the report attaches each definition to its
figure as a footnote, and docs/report.md explains the same rules with their sources.

Sources: RDV-Insertion's statistics (gip-inclusion/rdv-insertion, app/services/stats/: compute_rate_of_no_show.rb,
compute_rate_of_users_with_rdv_seen_in_less_than_n_days.rb, compute_rate_of_autonomous_users.rb), the DGEFP
circular 2008-21 on integration through economic activity, DARES' measure of emploi durable, the European
Social Fund's participant indicators (sex, age bands).
"""

from __future__ import annotations

from hub.events import OutcomeCategory

__all__ = ["BREAKDOWN_LABELS", "BREAKDOWN_NOTES", "CATEGORIES", "DEFINITIONS", "LABELS", "SECTIONS", "notes"]

CATEGORIES: dict[str, str] = {
    OutcomeCategory.EMPLOI_DURABLE.value: "Emploi durable",
    OutcomeCategory.EMPLOI_TRANSITION.value: "Emploi de transition",
    OutcomeCategory.FORMATION.value: "Formation",
    OutcomeCategory.SORTIE_POSITIVE.value: "Sortie positive",
    OutcomeCategory.AUTRE.value: "Autre situation",
}
"""The outcome categories the report counts (attendance is not an outcome), in the order they are shown."""

SECTIONS = {
    "registrations": "Inscriptions",
    "sessions": "Rendez-vous",
    "journey": "Du premier contact au premier rendez-vous",
    "outcomes": "Situation {horizon} après le rendez-vous",
}

LABELS = {
    "registered": "Personnes inscrites",
    "sessions.booked": "Rendez-vous prévus",
    "sessions.held": "Rendez-vous honorés",
    "sessions.no_show": "Absences",
    "sessions.cancelled": "Rendez-vous annulés",
    "sessions.unknown": "Présence non renseignée (ou à venir)",
    "sessions.no_show_rate": "Taux d'absence",
    "journey.honoured_15": "Premier rendez-vous honoré en moins de 15 jours",
    "journey.honoured_30": "Premier rendez-vous honoré en moins de 30 jours",
    "journey.self_booked": "Réservation en autonomie",
    "journey.median_days": "Délai médian jusqu'au premier rendez-vous (jours)",
    "due": "Suivis arrivés à échéance",
    "answered": "Situation connue",
    "response_rate": "Taux de réponse",
    **CATEGORIES,
}

_RDVI = "gip-inclusion/rdv-insertion, app/services/stats/"

DEFINITIONS = {
    "registered": (
        "Personnes inscrites : personnes dont la première inscription tombe dans la période (date de la fiche, ou "
        "de l'inscription enregistrée pour une personne effacée depuis) ; chacune compte une fois, par son "
        "identifiant hub. Une personne revenue après un effacement est une nouvelle inscription."),
    "sessions.booked": (
        "Rendez-vous prévus : rendez-vous dont la date tombe dans la période, quel que soit leur sort ; un "
        "rendez-vous déplacé compte une fois, à sa dernière date. Prévus = honorés + absences + annulés + "
        "présence non renseignée."),
    "sessions.held": "Rendez-vous honorés : présence notée (« Présent »), par l'équipe ou l'outil de réservation.",
    "sessions.no_show": (
        "Absences : absence notée (« Absent »), par l'équipe ou l'outil de réservation ; une absence retirée "
        "ensuite ne compte plus."),
    "sessions.cancelled": "Rendez-vous annulés : annulés par la personne ou par l'équipe, sans nouvelle date.",
    "sessions.unknown": (
        "Présence non renseignée : rendez-vous ni annulés ni notés (à venir, ou présence pas encore saisie)."),
    "sessions.no_show_rate": (
        "Taux d'absence = absences / rendez-vous dont la présence est connue (honorés + absences), la définition "
        f"de RDV-Insertion ({_RDVI}compute_rate_of_no_show.rb : absences / participations résolues), pour "
        "comparer avec le service public de l'insertion."),
    "journey.honoured_15": (
        "Premier rendez-vous honoré en moins de 15 jours : parmi les personnes inscrites dans la période depuis au "
        "moins 15 jours à la fin de la période (à la date du rapport si elle est plus tôt), part de celles dont "
        "le premier rendez-vous honoré a eu lieu moins de 15 jours calendaires après l'inscription ; les "
        f"inscriptions plus récentes n'ont pas eu le temps et ne comptent pas ({_RDVI}"
        "compute_rate_of_users_with_rdv_seen_in_less_than_n_days.rb)."),
    "journey.honoured_30": (
        "Premier rendez-vous honoré en moins de 30 jours : la même mesure à 30 jours, sur les personnes inscrites "
        "dans la période depuis au moins 30 jours."),
    "journey.self_booked": (
        "Réservation en autonomie : parmi les personnes inscrites dans la période qui ont réservé un rendez-vous, "
        "part de celles dont la première réservation a été faite par la personne elle-même dans l'outil de "
        "réservation (Calendly par défaut, par le lien reçu ; [report] self_booking dans hub.toml), plutôt que "
        "saisie par l'équipe (agenda de l'antenne) ; proche du taux d'autonomie de RDV-Insertion "
        f"({_RDVI}compute_rate_of_autonomous_users.rb)."),
    "journey.median_days": (
        "Délai médian entre l'inscription et le premier rendez-vous, en jours calendaires : parmi les personnes "
        "inscrites dans la période qui ont un rendez-vous non annulé (honoré, manqué ou à venir), la médiane "
        "des délais jusqu'au premier ; un rendez-vous antérieur à l'inscription est écarté, comme le fait "
        "RDV-Insertion."),
    "due": (
        "Suivis arrivés à échéance : personnes dont le suivi à cet horizon ([schedule] followups, compté depuis "
        "le rendez-vous) est arrivé dans la période ; les résultats de cette rubrique portent sur elles seules."),
    "answered": (
        "Situation connue : parmi elles, personnes dont la situation à cet horizon est connue, par leur réponse au "
        "message de suivi ou par une saisie de l'équipe. Une saisie de l'équipe sans horizon compte à l'horizon "
        "le plus proche de sa date, compté depuis le premier rendez-vous honoré de la personne (à égalité, le "
        "plus court) ; sans rendez-vous honoré, elle ne compte à aucun horizon. Pour une personne et un "
        "horizon, une saisie de l'équipe l'emporte sur la réponse de la personne, et entre deux saisies de même "
        "origine, la plus récente l'emporte."),
    "response_rate": (
        "Taux de réponse = situation connue / suivis arrivés à échéance : à lire avant les résultats, qui ne "
        "portent que sur les situations connues."),
    OutcomeCategory.EMPLOI_DURABLE.value: (
        "Emploi durable : CDI, CDD ou intérim de 6 mois ou plus, alternance de 6 mois ou plus, création "
        "d'entreprise, fonction publique (DARES : CDI ou CDD d'au moins 6 mois ; circulaire DGEFP 2008-21)."),
    OutcomeCategory.EMPLOI_TRANSITION.value: (
        "Emploi de transition : CDD, intérim ou alternance de moins de 6 mois, contrat aidé (circulaire DGEFP "
        "2008-21)."),
    OutcomeCategory.FORMATION.value: "Formation : entrée en formation qualifiante ou pré-qualifiante.",
    OutcomeCategory.SORTIE_POSITIVE.value: (
        "Sortie positive : autre situation que l'antenne juge positive, par exemple une embauche dans une autre "
        "structure d'insertion (circulaire DGEFP 2008-21 ; la formation, qu'elle y range aussi, est comptée à "
        "part ici)."),
    OutcomeCategory.AUTRE.value: "Autre situation : en recherche d'emploi, ou toute autre situation.",
}

BREAKDOWN_LABELS = {
    "referrer": "Par structure d'orientation",
    "sex": "Par sexe",
    "age_band": "Par âge à l'inscription",
    "reminder": "Selon l'envoi d'un rappel",
}

BREAKDOWN_NOTES = {
    "referrer": (
        "Structure d'orientation : le type de structure déclaré, sinon déduit de son nom (France Travail ou Pôle "
        "emploi, mission locale, PLIE, CCAS ou CIAS, Cap emploi) ; « autre » pour une structure que le hub ne "
        "reconnaît pas, « non renseigné » sans réponse."),
    "sex": (
        "Sexe : tel que la personne l'a déclaré (femme, homme, ou une autre réponse), là où l'antenne le demande ; "
        "« non renseigné » sans réponse. La ventilation n'apparaît pas pour une antenne qui ne le demande à "
        "personne."),
    "age_band": (
        "Âge à l'inscription (année d'inscription moins année de naissance), dans les tranches des indicateurs de "
        "participants du Fonds social européen : moins de 25 ans, 25 à 54 ans, 55 ans et plus."),
    "reminder": (
        "Avec rappel : un rappel de ce rendez-vous (ou de sa date précédente, s'il a été déplacé) a été remis au "
        "service d'envoi de l'antenne ; sans rappel : aucun (rendez-vous pris trop tard, rappels coupés, envoi "
        "en échec)."),
}


def notes(view: str, threshold: int) -> tuple[str, ...]:
    """How to read the report, in French: who may see it, and the small-count rule with its limits."""
    small = (f"Effectifs de moins de {threshold} : affichés « < {threshold} », et tout taux ou médiane calculé sur "
             f"eux est masqué ; « s » (secret) marque un nombre masqué en plus pour qu'un effectif de moins de "
             f"{threshold} ne puisse pas se déduire des totaux (somme des lignes d'une ventilation, des antennes "
             "du réseau, des rendez-vous). Limite : deux rapports de périodes différentes (un mois et l'année) "
             "peuvent encore se retrancher l'un de l'autre ; publier de préférence des périodes longues.")
    if view == "raw":
        return ("Vue complète, sans masquage des petits effectifs : réservée à l'équipe de l'antenne (et, pour le "
                "réseau, à l'équipe qui le coordonne) ; ne pas la transmettre hors de l'antenne.",
                "Aucun nom ni coordonnée : les personnes sont comptées par leur identifiant hub.")
    return ("Vue diffusable (financeurs, partenaires) : pseudonyme, sans nom ni coordonnée, petits effectifs masqués.",
            small)
