"""Outcomes collected from the candidates themselves (issue 15): each follow-up mail carries a personal, signed,
timed link (`links`) to a one-question page served by the hub's web listener (`routes`, `page`); an answer is
one `outcome_recorded` recorded by the candidate at that follow-up's horizon (`answers`)."""
