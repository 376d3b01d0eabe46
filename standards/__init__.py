"""The platform's standards: what each environment allows and what every resource says about itself.

The program (``infra``) follows them and the policy pack (``policies``) enforces them. Both import this
package and it imports neither, so the two sides cannot drift apart and neither depends on the other.
"""
