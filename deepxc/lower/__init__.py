"""IR partition -> TVM -> kernel objects. The only stage that imports TVM."""
