"""Wire-faithful stand-ins for services tests cannot reach (SMTP, …): real servers on 127.0.0.1:0 that speak
the real protocol, so the product code under test is the code that talks to the real thing."""
