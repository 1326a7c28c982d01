"""TODO: package map"""
