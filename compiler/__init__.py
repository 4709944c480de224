"""Syntax tree to Plan: resolve, type-check, expand, render, lower."""
