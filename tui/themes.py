"""The themes a user chooses from (tui/config.py THEMES): Textual's dark and light, and a high-contrast one.

The high-contrast theme is for depot kiosks and poor eyesight: pure black background, white text, saturated
yellow/cyan accents, no muted greys. Styles use only theme variables, so every screen follows it.
"""
from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="cardsonline-high-contrast",
    primary="#FFFF00",  # yellow on black: the highest-contrast colour after white
    secondary="#00FFFF",
    accent="#00FFFF",
    warning="#FFAF00",
    error="#FF5F5F",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1C1C1C",
    boost="#FFFFFF",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
    variables={
        "text-muted": "#FFFFFF",  # no dimmed text
        "text-disabled": "#BCBCBC",
        "footer-key-foreground": "#000000",
        "footer-key-background": "#FFFF00",
        "footer-description-foreground": "#FFFFFF",
        "footer-background": "#000000",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFFF00",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-foreground": "#000000",
        "block-cursor-blurred-background": "#BCBCBC",
        "input-cursor-foreground": "#000000",
        "input-cursor-background": "#FFFFFF",
        "input-selection-background": "#00FFFF 60%",
        "border": "#FFFF00",
        "border-blurred": "#FFFFFF",
        "scrollbar": "#BCBCBC",
        "scrollbar-hover": "#FFFFFF",
        "scrollbar-active": "#FFFF00",
        "scrollbar-background": "#000000",
    },
)

THEME_OBJECTS = (HIGH_CONTRAST,)
